// The frame every value component shares: label, help text, message, visibility.
import type { ReactNode } from "react";
import type { Component } from "../model/catalog";
import { labelOf } from "../model/catalog";
import type { JsonObject } from "../model/merge";
import { useVisible } from "../viewer/hooks";
import { Message } from "../viewer/Message";

export function fieldId(block: string, name: string): string {
  return `field-${block}-${name}`;
}

export function Field(props: {
  block: string;
  component: Component;
  context: JsonObject | undefined;
  children: ReactNode;
  inline?: boolean;
}): React.JSX.Element | null {
  const { block, component, context, children } = props;
  const visible = useVisible(component.display_rules, context?.visible);
  if (!visible) return null;
  const label = typeof context?.label === "string" ? context.label : labelOf(component);
  const id = fieldId(block, component.name);
  const required = "required" in component && component.required;
  return (
    <div className={`field field-${component.component_type}`} data-component={`${block}.${component.name}`}>
      <label htmlFor={id}>
        {label}
        {required ? <span className="required" aria-hidden="true"> *</span> : null}
      </label>
      {children}
      {component.description ? (
        <small className="help" id={`${id}-help`}>
          {component.description}
        </small>
      ) : null}
      <Message text={context?.message} type={context?.message_type} />
    </div>
  );
}
