// A page's blocks on the 12-column grid, with the run panel (progress, output, errors).
import { blocks } from "../blocks/registry";
import type { BlockProps } from "../blocks/types";
import type { Block } from "../model/catalog";
import { RunPanel } from "./RunPanel";
import { usePage } from "./hooks";

function BlockSlot({ block }: { block: Block }): React.JSX.Element | null {
  const View = blocks[block.block_type] as (props: BlockProps<Block>) => React.JSX.Element | null;
  return <View block={block} />;
}

/** Grid placement: a block's layout, or full width in page order. */
function placement(block: Block, order: number): React.CSSProperties {
  const layout = block.layout;
  if (!layout) return { gridColumn: "1 / span 12", order };
  return {
    gridColumn: `${(layout.x ?? 0) + 1} / span ${layout.w ?? 12}`,
    gridRow: `${(layout.y ?? 0) + 1} / span ${layout.h ?? 6}`,
  };
}

export function PageView(): React.JSX.Element {
  const properties = usePage((state) => state.properties);
  const all = properties.blocks ?? [];
  const placed = all.filter((block) => !(block.block_type === "widget" && block.widget_type === "modal"));
  const modals = all.filter((block) => block.block_type === "widget" && block.widget_type === "modal");
  const gridded = placed.some((block) => block.layout);
  return (
    <div className="page">
      {properties.description ? <p className="page-description">{properties.description}</p> : null}
      <div className={gridded ? "grid" : "stack"}>
        {placed.map((block, index) => (
          <div key={block.name} className="cell" style={gridded ? placement(block, index) : undefined}>
            <BlockSlot block={block} />
          </div>
        ))}
      </div>
      {modals.map((block) => (
        <BlockSlot key={block.name} block={block} />
      ))}
      <RunPanel />
    </div>
  );
}
