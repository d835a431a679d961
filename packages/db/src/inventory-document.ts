/**
 * A host's inventory is stored in host_inventories as the document without its entity lists
 * (`inventory`) and one column per list, so a delta rewrites only the lists it changes.
 */
export const INVENTORY_LISTS = ['images', 'layers', 'containers', 'volumes'] as const;
export type InventoryList = (typeof INVENTORY_LISTS)[number];

export type InventoryColumns = { inventory: Record<string, unknown> } & Record<InventoryList, unknown[]>;

/** The columns a full inventory document is stored in. */
export function splitInventoryDocument(document: Record<string, unknown>): InventoryColumns {
  const { images, layers, containers, volumes, ...rest } = document;
  const list = (value: unknown) => (Array.isArray(value) ? value : []);
  return {
    inventory: rest,
    images: list(images),
    layers: list(layers),
    containers: list(containers),
    volumes: list(volumes),
  };
}

/** The full inventory document of a stored row. */
export function joinInventoryDocument(row: { inventory: unknown } & Record<InventoryList, unknown>) {
  return {
    ...(row.inventory as Record<string, unknown>),
    images: row.images,
    layers: row.layers,
    containers: row.containers,
    volumes: row.volumes,
  };
}

/** SQL for the full inventory document of the host_inventories row aliased `alias`. */
export function fullInventorySql(alias: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(alias)) throw new Error(`Invalid SQL alias ${JSON.stringify(alias)}`);
  const lists = INVENTORY_LISTS.map((list) => `'${list}', ${alias}.${list}`).join(', ');
  return `(${alias}.inventory || jsonb_build_object(${lists}))`;
}
