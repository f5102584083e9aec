import { useEffect, useRef } from "react";
import { components } from "../../components/registry";
import type { ComponentProps } from "../../components/types";
import type { BlockOf, Component } from "../../model/catalog";
import { labelOf } from "../../model/catalog";
import { useBlockContext, usePage, useVisible } from "../../viewer/hooks";
import { Message } from "../../viewer/Message";
import type { BlockProps } from "../types";

function ComponentSlot(props: ComponentProps<Component>): React.JSX.Element | null {
  const View = components[props.component.component_type] as (props: ComponentProps<Component>) => React.JSX.Element | null;
  return <View {...props} />;
}

export function WidgetView({ block }: BlockProps<BlockOf<"widget">>): React.JSX.Element | null {
  const context = useBlockContext(block.name);
  const kind = block.widget_type ?? "base";
  const byRules = useVisible(block.display_rules, context?.visible);
  const setLocal = usePage((state) => state.setLocal);
  const dialog = useRef<HTMLDivElement>(null);
  const open = kind === "modal" ? context?.visible === true : byRules;
  useEffect(() => {
    if (kind === "modal" && open) dialog.current?.querySelector<HTMLElement>("input, select, textarea, button")?.focus();
  }, [kind, open]);
  if (!open) return null;
  const title = typeof context?.label === "string" ? context.label : labelOf(block);
  const body = (
    <>
      {kind === "inline" ? null : <h2 className="block-title">{title}</h2>}
      {block.description && kind !== "inline" ? <p className="block-description">{block.description}</p> : null}
      <Message text={context?.message} type={context?.message_type} />
      <div className={kind === "inline" ? "components inline" : "components"}>
        {(block.components ?? []).map((component) => (
          <ComponentSlot key={component.name} block={block.name} widget={block} component={component} />
        ))}
      </div>
    </>
  );
  if (kind !== "modal") {
    return (
      <section className={`block widget widget-${kind}`} aria-label={title} data-block={block.name}>
        {body}
      </section>
    );
  }
  const close = () => setLocal([block.name, "visible"], false);
  return (
    <div className="modal-backdrop" onClick={close} onKeyDown={(event) => event.key === "Escape" && close()} role="presentation">
      <div
        className="block widget modal"
        role="dialog"
        aria-modal="true"
        aria-label={title}
        data-block={block.name}
        ref={dialog}
        onClick={(event) => event.stopPropagation()}
      >
        <button type="button" className="modal-close" aria-label="Close" onClick={close}>
          ×
        </button>
        {body}
      </div>
    </div>
  );
}
