// The property form of what is selected, drawn from the catalog's JSON schema and grouped as it says.
import Form from "@rjsf/core";
import type { ErrorSchema, FieldProps, ObjectFieldTemplateProps, RJSFSchema, WidgetProps } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";
import { useEffect, useMemo, useState } from "react";
import { GROUP_LABELS, type Schema, formSchema, grouped } from "./formSchema";

export interface PanelContext {
  functions: string[];
  newFunction: () => Promise<string | null>;
  groups: string[];
}

function GroupedObject(props: ObjectFieldTemplateProps): React.JSX.Element {
  const context = props.registry.formContext as PanelContext;
  const byName = new Map(props.properties.map((property) => [property.name, property]));
  const isRoot = props.fieldPathId.$id === "root";
  if (!isRoot) {
    return (
      <div className="nested-object">
        {props.properties.map((property) => (
          <div key={property.name}>{property.content}</div>
        ))}
      </div>
    );
  }
  return (
    <div className="property-groups">
      {grouped([...byName.keys()], props.schema as Schema, context.groups).map(([group, names]) => (
        <fieldset key={group} className="property-group">
          <legend>{GROUP_LABELS[group] ?? group}</legend>
          {names.map((name) => (
            <div key={name}>{byName.get(name)?.content}</div>
          ))}
        </fieldset>
      ))}
    </div>
  );
}

function FunctionRefWidget(props: WidgetProps): React.JSX.Element {
  const context = props.registry.formContext as PanelContext;
  const value = typeof props.value === "string" ? props.value : "";
  const known = context.functions.includes(value) || value === "";
  return (
    <div className="function-ref">
      <select
        id={props.id}
        value={value}
        onChange={async (event) => {
          if (event.target.value === "__new__") {
            const created = await context.newFunction();
            if (created) props.onChange(created);
            return;
          }
          props.onChange(event.target.value === "" ? undefined : event.target.value);
        }}
      >
        <option value="">— none —</option>
        {known ? null : <option value={value}>{value} (missing)</option>}
        {context.functions.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
        <option value="__new__">New function…</option>
      </select>
    </div>
  );
}

/** A property edited as JSON (a default value, display rules). */
function JsonField(props: FieldProps): React.JSX.Element {
  const format = (value: unknown) => (value === undefined || value === null ? "" : JSON.stringify(value, null, 2));
  const [text, setText] = useState(format(props.formData));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => setText(format(props.formData)), [props.formData]);
  const schema = props.schema as Schema;
  const id = props.fieldPathId.$id;
  return (
    <div className="json-field">
      <label htmlFor={id}>{String(props.uiSchema?.["ui:title"] ?? schema.title ?? props.name)}</label>
      <textarea
        id={id}
        rows={text.includes("\n") ? 6 : 1}
        value={text}
        spellCheck={false}
        onChange={(event) => setText(event.target.value)}
        onBlur={() => {
          if (text.trim() === "") {
            setProblem(null);
            props.onChange(undefined, props.fieldPathId.path);
            return;
          }
          try {
            props.onChange(JSON.parse(text), props.fieldPathId.path);
            setProblem(null);
          } catch {
            // Not JSON: take it as text (a default of a text input), unless it looks like JSON gone wrong.
            if (/^[[{"]/.test(text.trim())) setProblem("not valid JSON");
            else props.onChange(text, props.fieldPathId.path);
          }
        }}
      />
      {schema.description ? <small className="help">{String(schema.description)}</small> : null}
      {problem ? <div className="field-error">{problem}</div> : null}
      {(props.rawErrors ?? []).map((error) => (
        <div key={error} className="field-error">
          {error}
        </div>
      ))}
    </div>
  );
}

export function PropertyPanel(props: {
  schema: Schema;
  value: Record<string, unknown>;
  issues: Map<string, string[]>;
  context: PanelContext;
  onChange: (value: Record<string, unknown>) => void;
}): React.JSX.Element {
  const { schema, uiSchema } = useMemo(() => formSchema(props.schema), [props.schema]);
  const extraErrors = useMemo(() => {
    const errors: Record<string, unknown> = {};
    for (const [field, messages] of props.issues) {
      if (field === "") errors.__errors = messages;
      else errors[field] = { __errors: messages };
    }
    return errors as ErrorSchema;
  }, [props.issues]);
  return (
    <Form
      schema={schema as RJSFSchema}
      uiSchema={uiSchema}
      formData={props.value}
      validator={validator}
      formContext={props.context}
      templates={{ ObjectFieldTemplate: GroupedObject }}
      widgets={{ functionRef: FunctionRefWidget }}
      fields={{ json: JsonField }}
      extraErrors={extraErrors}
      // The draft holds only what the developer set: the server applies every default.
      experimental_defaultFormStateBehavior={{ emptyObjectFields: "skipDefaults", arrayMinItems: { populate: "never" } }}
      showErrorList={false}
      noHtml5Validate
      liveOmit={false}
      onChange={(event) => props.onChange(event.formData as Record<string, unknown>)}
    />
  );
}
