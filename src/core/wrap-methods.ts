/**
 * A view of an object with some of its methods wrapped; every other member is the object's own.
 * Used to learn what a use case does through its Deps (which ledger records it begins, which temp
 * files it creates) without the use case knowing: the CLI's safety net, the notified runs.
 */
type Method<T, K extends keyof T> = T[K] extends (...args: infer A) => infer R ? (...args: A) => R : never;
export type Wrappers<T> = { [K in keyof T]?: (call: Method<T, K>) => Method<T, K> };

export function wrapMethods<T extends object>(target: T, wrappers: Wrappers<T>): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const bound = (value as (...args: unknown[]) => unknown).bind(object);
      const wrapper = (wrappers as Record<PropertyKey, ((call: unknown) => unknown) | undefined>)[property];
      return wrapper ? wrapper(bound) : bound;
    },
  });
}
