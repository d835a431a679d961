/**
 * A host's inventory is stored as the document without its entity lists (host_inventories
 * `inventory`) and one host_inventory_entities row per list item, so a delta writes only the
 * items it changes.
 */
export const INVENTORY_LISTS = ['images', 'layers', 'containers', 'volumes'] as const;
export type InventoryList = (typeof INVENTORY_LISTS)[number];

/** The field that keys each list's items (the row's `key`). */
export const INVENTORY_LIST_KEYS: Record<InventoryList, string> = {
  images: 'id',
  layers: 'chainId',
  containers: 'id',
  volumes: 'name',
};

/** One host_inventory_entities row, without the host. */
export interface InventoryEntityRow {
  list: InventoryList;
  key: string;
  pos: number;
  data: unknown;
}

/**
 * A full inventory document as the document without its lists and the rows of their items.
 * Two items of one list with the same key are one row: the later item's value at the earlier
 * one's place, as applying a delta to the list would leave it. Items without a string key
 * cannot be stored and are an error.
 */
export function splitInventoryDocument(document: Record<string, unknown>): {
  inventory: Record<string, unknown>;
  entities: InventoryEntityRow[];
} {
  const { images, layers, containers, volumes, ...rest } = document;
  const lists: Record<InventoryList, unknown> = { images, layers, containers, volumes };
  const entities: InventoryEntityRow[] = [];
  for (const list of INVENTORY_LISTS) {
    const items = lists[list];
    if (!Array.isArray(items)) continue;
    const field = INVENTORY_LIST_KEYS[list];
    const at = new Map<string, number>();
    items.forEach((item: unknown, index) => {
      const key = (item as Record<string, unknown> | null)?.[field];
      if (typeof key !== 'string') throw new Error(`${list}[${index}] has no string ${field}`);
      const seen = at.get(key);
      if (seen === undefined) {
        at.set(key, entities.length);
        entities.push({ list, key, pos: index + 1, data: item });
      } else {
        (entities[seen] as InventoryEntityRow).data = item;
      }
    });
  }
  return { inventory: rest, entities };
}

/** The full inventory document from a stored document and its rows (any order). */
export function joinInventoryDocument(
  inventory: unknown,
  entities: readonly { list: string; pos: number | bigint; data: unknown }[],
): Record<string, unknown> {
  const sorted = [...entities].sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0));
  const lists: Record<string, unknown[]> = { images: [], layers: [], containers: [], volumes: [] };
  for (const row of sorted) lists[row.list]?.push(row.data);
  return { ...(inventory as Record<string, unknown>), ...lists };
}

/** SQL for one list of the host_inventories row aliased `alias`, as a jsonb array in order. */
export function inventoryListSql(alias: string, list: InventoryList): string {
  checkAlias(alias);
  return `(SELECT coalesce(jsonb_agg(ie.data ORDER BY ie.pos), '[]'::jsonb) FROM host_inventory_entities AS ie
           WHERE ie.org_id = ${alias}.org_id AND ie.host_id = ${alias}.host_id AND ie.list = '${list}')`;
}

/** SQL for the full inventory document of the host_inventories row aliased `alias`. */
export function fullInventorySql(alias: string): string {
  const lists = INVENTORY_LISTS.map((list) => `'${list}', ${inventoryListSql(alias, list)}`).join(', ');
  return `(${alias}.inventory || jsonb_build_object(${lists}))`;
}

function checkAlias(alias: string) {
  if (!/^[a-z_][a-z0-9_]*$/.test(alias)) throw new Error(`Invalid SQL alias ${JSON.stringify(alias)}`);
}
