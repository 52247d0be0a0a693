/**
 * Drops undefined-valued keys, deeply. Server-side apply records ownership of every field in the
 * body, and a JSON body must not depend on how a serializer treats `undefined`.
 */
export function prune<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map((item: unknown) => prune(item)) as T;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = prune(item);
    }
    return out as T;
  }
  return value;
}
