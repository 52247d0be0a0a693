/**
 * The part of metav1.ObjectMeta this API's consumers read. Declared here rather than imported
 * from @kubernetes/client-node so that workflow code can import crds/ (client-node cannot be
 * bundled into workflows); client-node's V1ObjectMeta is assignable to it.
 */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  creationTimestamp?: Date | string;
  deletionTimestamp?: Date | string;
}
