import type { ComponentOf } from "../../model/catalog";
import { useComponentContext, usePage } from "../../viewer/hooks";
import { Field, fieldId } from "../Field";
import type { ComponentProps } from "../types";

interface Choice {
  label: string;
  value: string | number;
}

function typed(dataType: ComponentOf<"select">["data_type"], raw: string): string | number {
  return dataType === "integer" || dataType === "float" ? Number(raw) : raw;
}

export function SelectView({ block, component }: ComponentProps<ComponentOf<"select">>): React.JSX.Element | null {
  const context = useComponentContext(block, component.name);
  const value = usePage((state) => state.state[block]?.[component.name]);
  const setValue = usePage((state) => state.setValue);
  const run = usePage((state) => state.run);
  const choices = (Array.isArray(context?.options) ? context.options : component.options ?? []) as unknown as Choice[];
  const multiple = component.multiple ?? false;
  const selected = multiple ? ((value as unknown[] | undefined) ?? []).map(String) : value === undefined || value === null ? "" : String(value);
  return (
    <Field block={block} component={component} context={context}>
      <select
        id={fieldId(block, component.name)}
        name={component.name}
        multiple={multiple}
        value={selected}
        required={component.required ?? false}
        disabled={context?.disabled === true}
        onChange={(event) => {
          const chosen = Array.from(event.target.selectedOptions, (option) => option.value);
          const next = multiple
            ? chosen.map((item) => typed(component.data_type, item))
            : chosen[0] === "" || chosen[0] === undefined
              ? undefined
              : typed(component.data_type, chosen[0]);
          setValue(block, component.name, next);
          if (component.on_change) void run(component.on_change, `${block}.${component.name}`);
        }}
      >
        {multiple ? null : <option value="">{component.placeholder ?? "—"}</option>}
        {choices.map((choice) => (
          <option key={String(choice.value)} value={String(choice.value)}>
            {choice.label}
          </option>
        ))}
      </select>
    </Field>
  );
}
