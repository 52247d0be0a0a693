/**
 * JSON with sorted keys (dates as ISO strings, undefined dropped): two objects that hold the same
 * fields give the same text whatever order the API server or a renderer wrote them in. For
 * fingerprints (the watcher's drift) and comparisons (the look at rest).
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(normalize(value));
}

function normalize(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(normalize);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = normalize(v);
    }
    return out;
  }
  return value;
}
