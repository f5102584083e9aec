import type { ComponentOf } from "../../model/catalog";
import { useComponentContext, usePage } from "../../viewer/hooks";
import { Field, fieldId } from "../Field";
import type { ComponentProps } from "../types";

export function BooleanView({ block, component }: ComponentProps<ComponentOf<"boolean">>): React.JSX.Element | null {
  const context = useComponentContext(block, component.name);
  const value = usePage((state) => state.state[block]?.[component.name]) === true;
  const setValue = usePage((state) => state.setValue);
  const run = usePage((state) => state.run);
  const isSwitch = (component.display ?? "switch") === "switch";
  return (
    <Field block={block} component={component} context={context}>
      <input
        id={fieldId(block, component.name)}
        name={component.name}
        type="checkbox"
        role={isSwitch ? "switch" : undefined}
        className={isSwitch ? "switch" : undefined}
        checked={value}
        disabled={context?.disabled === true}
        onChange={(event) => {
          setValue(block, component.name, event.target.checked);
          if (component.on_toggle) void run(component.on_toggle, `${block}.${component.name}`);
        }}
      />
    </Field>
  );
}
