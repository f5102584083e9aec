import type { BlockOf, BlockType } from "../model/catalog";

export interface BlockProps<B> {
  block: B;
}

/** One view per block type: a type the catalog has and this map lacks is a compile error. */
export type BlockRegistry = {
  [K in BlockType]: (props: BlockProps<BlockOf<K>>) => React.JSX.Element | null;
};
