// Which replica last served each prompt prefix (chained block hashes, llm-router.ts prefixBlocks):
// a bounded map, oldest entries out first. The router asks it for the replica holding the longest
// prefix of a new prompt; that replica likely still has it in its KV cache (each llama.cpp replica
// also picks, among its free slots, the one whose cache shares the longest prefix).

export const DEFAULT_PREFIX_ENTRIES = 50_000;

export class PrefixIndex {
  private readonly owner = new Map<number, number>();

  constructor(private readonly maxEntries = DEFAULT_PREFIX_ENTRIES) {}

  get size(): number {
    return this.owner.size;
  }

  /** The replica (among `alive`) that served the longest of these prefixes, and how many blocks matched. */
  lookup(blocks: readonly number[], alive: (id: number) => boolean): { id: number; blocks: number } | null {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const id = this.owner.get(blocks[i]);
      if (id !== undefined && alive(id)) return { id, blocks: i + 1 };
    }
    return null;
  }

  /** `id` now holds every prefix of this prompt. */
  record(blocks: readonly number[], id: number): void {
    for (const b of blocks) {
      this.owner.delete(b); // re-insert: Map order is insertion order, so this entry is now the newest
      this.owner.set(b, id);
    }
    while (this.owner.size > this.maxEntries) this.owner.delete(this.owner.keys().next().value as number);
  }

  /** A replica went away: its prefixes are no longer cached anywhere. */
  forget(id: number): void {
    for (const [b, owner] of this.owner) if (owner === id) this.owner.delete(b);
  }
}
