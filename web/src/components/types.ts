import type { ComponentOf, ComponentType, Widget } from "../model/catalog";

/** What every component view receives. */
export interface ComponentProps<C> {
  block: string;
  widget: Widget;
  component: C;
}

/** One view per component type: a type the catalog has and this map lacks is a compile error. */
export type ComponentRegistry = {
  [K in ComponentType]: (props: ComponentProps<ComponentOf<K>>) => React.JSX.Element | null;
};
