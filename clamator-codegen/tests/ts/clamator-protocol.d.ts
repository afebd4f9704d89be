// What the generated TypeScript needs from `@clamator/protocol` (the published 0.1.x API),
// declared by hand: the runtime package is not installed here. `ClamatorClient` is what the
// generated client calls; `Contract`, `HandlersFor` and `RpcServerCore.registerService` are
// what a server checks a generated contract and an implementation against (usage.ts).
declare module '@clamator/protocol' {
  import type { z } from 'zod';

  export interface ClamatorClient {
    call<P, R>(service: string, method: string, params: P, opts?: { timeoutMs?: number }): Promise<R>;
    notify<P>(service: string, method: string, params: P): Promise<void>;
  }

  export interface MethodDef<P extends z.ZodTypeAny, R extends z.ZodTypeAny> {
    params: P;
    result: R;
    notification?: false;
  }

  export interface NotificationDef<P extends z.ZodTypeAny> {
    params: P;
    notification: true;
  }

  export type AnyMethodDef = MethodDef<z.ZodTypeAny, z.ZodTypeAny> | NotificationDef<z.ZodTypeAny>;

  export interface Contract<S extends string, M extends Record<string, AnyMethodDef>> {
    service: S;
    methods: M;
  }

  export type HandlersFor<M extends Record<string, AnyMethodDef>> = {
    [K in keyof M]: M[K] extends NotificationDef<infer P>
      ? (params: z.infer<P>) => Promise<void>
      : M[K] extends MethodDef<infer P, infer R>
        ? (params: z.infer<P>) => Promise<z.infer<R>>
        : never;
  };

  export class RpcServerCore {
    registerService<M extends Record<string, AnyMethodDef>>(
      contract: Contract<string, M>,
      handlers: HandlersFor<M>,
    ): void;
  }
}
