import type { Json } from "../model/merge";

/** A message a run set on a block or component (info, success, warning, error). */
export function Message(props: { text: Json | undefined; type: Json | undefined }): React.JSX.Element | null {
  if (typeof props.text !== "string" || props.text === "") return null;
  const type = typeof props.type === "string" ? props.type : "info";
  return (
    <div className={`message message-${type}`} role={type === "error" ? "alert" : "status"}>
      {props.text}
    </div>
  );
}
