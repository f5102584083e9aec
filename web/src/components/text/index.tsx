import type { ComponentOf } from "../../model/catalog";
import { markdown } from "../../viewer/markdown";
import { useComponentContext, useVisible } from "../../viewer/hooks";
import { Message } from "../../viewer/Message";
import type { ComponentProps } from "../types";

export function TextView({ block, component }: ComponentProps<ComponentOf<"text">>): React.JSX.Element | null {
  const context = useComponentContext(block, component.name);
  const visible = useVisible(component.display_rules, context?.visible);
  if (!visible) return null;
  const text = typeof context?.text === "string" ? context.text : component.text ?? "";
  return (
    <div className="field field-text" data-component={`${block}.${component.name}`}>
      {/* markdown() sanitizes: scripts and event handlers in the text are removed */}
      <div className="markdown" dangerouslySetInnerHTML={{ __html: markdown(text) }} />
      <Message text={context?.message} type={context?.message_type} />
    </div>
  );
}
