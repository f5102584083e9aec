import { useRef } from "react";
import type { ComponentOf } from "../../model/catalog";
import { useComponentContext, usePage } from "../../viewer/hooks";
import { Field, fieldId } from "../Field";
import type { ComponentProps } from "../types";

const INPUT_TYPES = { text: "text", integer: "number", float: "number", date: "date", datetime: "datetime-local", time: "time" } as const;

function parse(dataType: ComponentOf<"input">["data_type"], raw: string): unknown {
  if (raw === "") return undefined;
  if (dataType === "integer") return Number.isInteger(Number(raw)) ? Number(raw) : raw;
  if (dataType === "float") return Number.isNaN(Number(raw)) ? raw : Number(raw);
  return raw;
}

function shown(value: unknown): string {
  if (value === undefined || value === null) return "";
  return String(value);
}

export function InputView({ block, component }: ComponentProps<ComponentOf<"input">>): React.JSX.Element | null {
  const context = useComponentContext(block, component.name);
  const value = usePage((state) => state.state[block]?.[component.name]);
  const setValue = usePage((state) => state.setValue);
  const run = usePage((state) => state.run);
  const atFocus = useRef<unknown>(undefined);
  const dataType = component.data_type ?? "text";
  const common = {
    id: fieldId(block, component.name),
    name: component.name,
    value: shown(value),
    placeholder: component.placeholder ?? undefined,
    required: component.required ?? false,
    disabled: context?.disabled === true,
    "aria-describedby": component.description ? `${fieldId(block, component.name)}-help` : undefined,
    onFocus: () => {
      atFocus.current = value;
    },
    onBlur: () => {
      if (component.on_change && atFocus.current !== value) void run(component.on_change, `${block}.${component.name}`);
    },
  };
  const origin = `${block}.${component.name}`;
  return (
    <Field block={block} component={component} context={context}>
      {component.multiline ? (
        <textarea
          {...common}
          rows={4}
          onChange={(event) => setValue(block, component.name, parse(dataType, event.target.value))}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && component.on_submit) void run(component.on_submit, origin);
          }}
        />
      ) : (
        <input
          {...common}
          type={INPUT_TYPES[dataType]}
          step={dataType === "float" ? "any" : dataType === "time" || dataType === "datetime" ? 1 : undefined}
          onChange={(event) => setValue(block, component.name, parse(dataType, event.target.value))}
          onKeyDown={(event) => {
            if (event.key === "Enter" && component.on_submit) {
              event.preventDefault();
              void run(component.on_submit, origin);
            }
          }}
        />
      )}
    </Field>
  );
}
