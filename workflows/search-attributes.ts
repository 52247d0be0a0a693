import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes of a Database's workflow (DESIGN.md, fixed names). They must be
 * registered on the Temporal namespace before a workflow sets them; the local stack registers
 * them at start, a production namespace needs `temporal operator search-attribute create`.
 */
export const DatabaseNamespace = defineSearchAttributeKey('DatabaseNamespace', SearchAttributeType.KEYWORD);
export const DatabaseName = defineSearchAttributeKey('DatabaseName', SearchAttributeType.KEYWORD);
export const DatabaseEngine = defineSearchAttributeKey('DatabaseEngine', SearchAttributeType.KEYWORD);
export const DatabasePhase = defineSearchAttributeKey('DatabasePhase', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [DatabaseNamespace, DatabaseName, DatabaseEngine, DatabasePhase];
