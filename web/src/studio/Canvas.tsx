// The page being designed: blocks on the 12-column grid (drag the title bar to move, the corner to
// resize), each showing its components or columns; click one to edit its properties.
import ReactGridLayout, { useContainerWidth, verticalCompactor } from "react-grid-layout";
import "react-grid-layout/css/styles.css";
import type { Block, Column, Component, PageProperties } from "../model/catalog";
import { isDataColumn, labelOf } from "../model/catalog";
import { markdown } from "../viewer/markdown";
import { type Selection, sameSelection } from "./draft";

function ComponentSketch({ component }: { component: Component }): React.JSX.Element {
  const label = labelOf(component);
  switch (component.component_type) {
    case "input":
      return (
        <label className="sketch-field">
          {label}
          <input disabled placeholder={component.placeholder ?? component.data_type ?? "text"} />
        </label>
      );
    case "select":
      return (
        <label className="sketch-field">
          {label}
          <select disabled>
            <option>{component.multiple ? "several…" : "choose…"}</option>
          </select>
        </label>
      );
    case "boolean":
      return (
        <label className="sketch-field sketch-inline">
          <input type="checkbox" disabled /> {label}
        </label>
      );
    case "button":
      return <span className={`button button-small button-${component.color ?? "blue"}`}>{label}</span>;
    case "text":
      return <div className="markdown" dangerouslySetInnerHTML={{ __html: markdown(component.text ?? "") }} />;
  }
}

function columnLabel(column: Column): string {
  return isDataColumn(column) ? labelOf(column) : `[${labelOf(column)}]`;
}

export function Canvas(props: {
  page: PageProperties;
  selection: Selection | null;
  problems: Set<string>;
  onSelect: (selection: Selection) => void;
  onLayout: (layout: { i: string; x: number; y: number; w: number; h: number }[]) => void;
}): React.JSX.Element {
  const { width, containerRef, mounted } = useContainerWidth();
  const blocks = props.page.blocks ?? [];
  const layout = blocks.map((block: Block, index) => ({
    i: block.name,
    x: block.layout?.x ?? 0,
    y: block.layout?.y ?? index * 6,
    w: block.layout?.w ?? 12,
    h: block.layout?.h ?? 6,
    minW: 2,
    minH: 2,
  }));
  const pick = (event: React.MouseEvent | React.KeyboardEvent, selection: Selection) => {
    event.stopPropagation();
    props.onSelect(selection);
  };
  return (
    <div className="canvas" ref={containerRef as React.RefObject<HTMLDivElement>}>
      {blocks.length === 0 ? <p className="canvas-empty">Add a widget or a table from the palette.</p> : null}
      {mounted ? (
        <ReactGridLayout
          width={width}
          layout={layout}
          gridConfig={{ cols: 12, rowHeight: 40, margin: [10, 10] }}
          dragConfig={{ enabled: true, handle: ".drag-handle" }}
          resizeConfig={{ enabled: true }}
          compactor={verticalCompactor}
          // Only what the developer did (not the grid's own first arrangement) changes the page.
          onDragStop={(next) => props.onLayout(next.map(({ i, x, y, w, h }) => ({ i, x, y, w, h })))}
          onResizeStop={(next) => props.onLayout(next.map(({ i, x, y, w, h }) => ({ i, x, y, w, h })))}
        >
          {blocks.map((block, blockIndex) => {
            const selected = sameSelection(props.selection, { kind: "block", block: blockIndex });
            return (
              <div
                key={block.name}
                className={`sketch ${selected ? "selected" : ""} ${props.problems.has(`b${blockIndex}`) ? "has-problem" : ""}`}
                data-block={block.name}
              >
                <header
                  className="drag-handle"
                  role="button"
                  tabIndex={0}
                  onClick={(event) => pick(event, { kind: "block", block: blockIndex })}
                  onKeyDown={(event) => event.key === "Enter" && pick(event, { kind: "block", block: blockIndex })}
                >
                  <span className="sketch-kind">{block.block_type === "widget" ? block.widget_type ?? "base" : "table"}</span>
                  {labelOf(block)}
                </header>
                <div className="sketch-body">
                  {block.block_type === "widget"
                    ? (block.components ?? []).map((component, index) => {
                        const selection: Selection = { kind: "component", block: blockIndex, index };
                        return (
                          <div
                            key={component.name}
                            className={`sketch-item ${sameSelection(props.selection, selection) ? "selected" : ""} ${props.problems.has(`b${blockIndex}c${index}`) ? "has-problem" : ""}`}
                            role="button"
                            tabIndex={0}
                            data-component={`${block.name}.${component.name}`}
                            onClick={(event) => pick(event, selection)}
                            onKeyDown={(event) => event.key === "Enter" && pick(event, selection)}
                          >
                            <ComponentSketch component={component} />
                          </div>
                        );
                      })
                    : (
                      <div className="sketch-columns">
                        {(block.columns ?? []).map((column, index) => {
                          const selection: Selection = { kind: "column", block: blockIndex, index };
                          return (
                            <span
                              key={column.name}
                              className={`sketch-column ${sameSelection(props.selection, selection) ? "selected" : ""} ${props.problems.has(`b${blockIndex}k${index}`) ? "has-problem" : ""}`}
                              role="button"
                              tabIndex={0}
                              data-column={`${block.name}.${column.name}`}
                              onClick={(event) => pick(event, selection)}
                              onKeyDown={(event) => event.key === "Enter" && pick(event, selection)}
                            >
                              {columnLabel(column)}
                            </span>
                          );
                        })}
                      </div>
                    )}
                </div>
              </div>
            );
          })}
        </ReactGridLayout>
      ) : null}
    </div>
  );
}
