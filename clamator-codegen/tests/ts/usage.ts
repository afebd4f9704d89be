// Compiled, never run: the generated modules used as a TypeScript team would use them. Each
// line that type-checks is a promise about the generated API's shape.
import type { ClamatorClient, RpcServerCore } from '@clamator/protocol';
import {
  ArithClient,
  arithContract,
  type AddParams,
  type AddResult,
  type ArithService,
  type DivideParams,
  type DivideResult,
  type EchoTextParams,
  type EchoTextResult,
  type SlowAddParams,
  type SlowAddResult,
} from './contracts/arith.js';
import {
  InventoryClient,
  inventoryContract,
  inventoryErrors,
  inventorySchemaHashes,
  type AddItemParams,
  type AddItemResult,
  type GetItemParams,
  type GetItemResult,
  type InventoryService,
  type ItemChangedParams,
  type ReserveParams,
  type ReserveResult,
  type SearchParams,
  type SearchResult,
  type SetMetadataParams,
  type SetMetadataResult,
} from './contracts/inventory.js';
import { NotificationsClient, notificationsContract, type NotificationsService } from './contracts/notifications.js';

class Arith implements ArithService {
  async add(p: AddParams): Promise<AddResult> {
    return { sum: p.a + p.b };
  }
  async divide(p: DivideParams): Promise<DivideResult> {
    return { q: p.a / p.b };
  }
  async echoText(p: EchoTextParams): Promise<EchoTextResult> {
    return { text: p.text };
  }
  async slowAdd(p: SlowAddParams): Promise<SlowAddResult> {
    return { sum: p.a + p.b + p.sleepMs * 0 };
  }
}

class Inventory implements InventoryService {
  async addItem(p: AddItemParams): Promise<AddItemResult> {
    if (p.dryRun) return { status: 'rejected', reason: 'forbidden', detail: null };
    return { status: 'created', id: p.item.id, createdAt: '2024-05-01T12:00:00Z' };
  }
  async getItem(p: GetItemParams): Promise<GetItemResult> {
    return { item: null, stock: { [p.id]: 0 } };
  }
  async itemChanged(p: ItemChangedParams): Promise<void> {
    void p.change;
  }
  async reserve(p: ReserveParams): Promise<ReserveResult> {
    return { remaining: 3 - p.quantity };
  }
  async search(p: SearchParams): Promise<SearchResult> {
    // Defaults are applied by the schema: the handler sees numbers and enum values.
    const limit: number = p.limit;
    const sort: 'asc' | 'desc' = p.sort;
    return { items: [], total: limit * 0, next: sort };
  }
  async setMetadata(p: SetMetadataParams): Promise<SetMetadataResult> {
    void p.metadata;
    return {};
  }
}

class Notifications implements NotificationsService {
  async ping(): Promise<void> {}
}

declare const server: RpcServerCore;
server.registerService(arithContract, new Arith());
server.registerService(inventoryContract, new Inventory());
server.registerService(notificationsContract, new Notifications());

const transport: ClamatorClient = {
  async call<P, R>(): Promise<R> {
    return undefined as unknown as R;
  },
  async notify<P>(): Promise<void> {},
};

export async function use(): Promise<number> {
  const arith = new ArithClient(transport);
  const sum: number = (await arith.add({ a: 2, b: 3 }, { timeoutMs: 500 })).sum;
  const inventory = new InventoryClient(transport);
  // Properties with defaults may be left out by a caller.
  const found = await inventory.search({ query: 'lamp' });
  const added = await inventory.addItem({ item: { id: 'a', name: 'A', price: 1, kind: 'digital' } });
  if (added.status === 'created') {
    const id: string = added.id;
    void id;
  } else {
    const reason: 'duplicate' | 'out-of-range' | 'forbidden' = added.reason;
    void reason;
  }
  await inventory.itemChanged({ id: 'a', version: 'v1', change: 'renamed' });
  await new NotificationsClient(transport).ping({});
  const code: 4009 = inventoryErrors.OutOfStock.code;
  const hash: string = inventorySchemaHashes.reserve.paramsHash;
  void hash;
  return sum + found.total + code;
}
