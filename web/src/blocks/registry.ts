// Every block type of the catalog has its view here; the type makes a missing one a compile error.
import { TableView } from "./table";
import type { BlockRegistry } from "./types";
import { WidgetView } from "./widget";

export const blocks: BlockRegistry = {
  widget: WidgetView,
  table: TableView,
};
