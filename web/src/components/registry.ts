// Every component type of the catalog has its view here; the type makes a missing one a compile error.
import { BooleanView } from "./boolean";
import { ButtonView } from "./button";
import { InputView } from "./input";
import { SelectView } from "./select";
import { TextView } from "./text";
import type { ComponentRegistry } from "./types";

export const components: ComponentRegistry = {
  input: InputView,
  select: SelectView,
  boolean: BooleanView,
  button: ButtonView,
  text: TextView,
};
