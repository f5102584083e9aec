import type { ComponentOf, Widget } from "../../model/catalog";
import { hasState, labelOf } from "../../model/catalog";
import type { PageStore } from "../../model/store";
import { useComponentContext, usePage, usePageStore, useVisible } from "../../viewer/hooks";
import { Message } from "../../viewer/Message";
import type { ComponentProps } from "../types";

function isEmpty(value: unknown): boolean {
  return value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
}

/** Required fields of the widget that are empty get an error message; true when there are none. */
export function checkRequired(store: PageStore, block: string, widget: Widget): boolean {
  const { state, setLocal } = store.getState();
  let ok = true;
  for (const component of widget.components ?? []) {
    if (!hasState(component) || !("required" in component) || !component.required) continue;
    const path = [block, "components", component.name];
    if (isEmpty(state[block]?.[component.name])) {
      ok = false;
      setLocal([...path, "message"], `${labelOf(component)} is required.`);
      setLocal([...path, "message_type"], "error");
    } else {
      setLocal([...path, "message"], "");
    }
  }
  return ok;
}

export function ButtonView({ block, widget, component }: ComponentProps<ComponentOf<"button">>): React.JSX.Element | null {
  const context = useComponentContext(block, component.name);
  const origin = `${block}.${component.name}`;
  const busy = usePage((state) => state.busy[origin] === true);
  const run = usePage((state) => state.run);
  const store = usePageStore();
  const visible = useVisible(component.display_rules, context?.visible);
  if (!visible) return null;
  const label = typeof context?.label === "string" ? context.label : labelOf(component);
  const onClick = () => {
    if (!component.on_click) return;
    if (component.check_required !== false && !checkRequired(store, block, widget)) return;
    if (component.confirm && !window.confirm(component.confirm)) return;
    void run(component.on_click, origin);
  };
  return (
    <div className="field field-button" data-component={origin}>
      <button
        type="button"
        className={`button button-${component.color ?? "blue"}`}
        disabled={busy || context?.disabled === true}
        aria-busy={busy}
        title={component.description ?? undefined}
        onClick={onClick}
      >
        {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {label}
      </button>
      <Message text={context?.message} type={context?.message_type} />
    </div>
  );
}
