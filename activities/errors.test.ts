import { ApiException } from '@kubernetes/client-node';
import { isNamespaceTerminating } from './errors';

/** The API server's refusals as client-node hands them over (the body is the Status as JSON). */
const refusal = (code: number, status: object) =>
  new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify(status), {});

describe('isNamespaceTerminating', () => {
  it('recognises the NamespaceLifecycle refusal by its cause, and by its message alone', () => {
    const message =
      'events "orders.1" is forbidden: unable to create new content in namespace shop because it is being terminated';
    expect(
      isNamespaceTerminating(
        refusal(403, {
          kind: 'Status',
          reason: 'Forbidden',
          message,
          details: { causes: [{ type: 'NamespaceTerminating', field: 'metadata.namespace' }] },
        }),
      ),
    ).toBe(true);
    expect(isNamespaceTerminating(refusal(403, { kind: 'Status', reason: 'Forbidden', message }))).toBe(true);
  });

  it('is false for a missing permission, and for other codes', () => {
    const rbac =
      'events is forbidden: User "system:serviceaccount:op:worker" cannot create resource "events"';
    expect(isNamespaceTerminating(refusal(403, { kind: 'Status', reason: 'Forbidden', message: rbac }))).toBe(
      false,
    );
    expect(
      isNamespaceTerminating(
        refusal(404, { kind: 'Status', reason: 'NotFound', message: 'namespaces "shop" not found' }),
      ),
    ).toBe(false);
    expect(isNamespaceTerminating(new Error('because it is being terminated'))).toBe(false);
  });
});
