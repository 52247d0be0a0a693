import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface Pki {
  /** RSA key pair that signs and verifies service-account tokens. */
  serviceAccountKey: string;
  serviceAccountPub: string;
  /** Static token file for the control-plane components and the admin user. */
  tokenFile: string;
  adminToken: string;
  controlPlaneToken: string;
  /** Token of the user "durable-db-operator", whose writes the audit log records. */
  operatorToken: string;
  /** Directory where kube-apiserver writes its self-signed serving cert (apiserver.crt). */
  certDir: string;
  /** Each real node's kubelet: user system:node:<name> in group system:nodes (Node authorizer). */
  nodeTokens: Record<string, string>;
  /** kube-proxy as system:kube-proxy (bound to system:node-proxier by the default RBAC). */
  kubeProxyToken: string;
}

/**
 * Creates the few credentials a local control plane needs, without openssl: node's crypto makes
 * the service-account key pair; kube-apiserver generates its own self-signed serving certificate
 * (with its CA appended) in certDir, which the kubeconfig then trusts.
 */
export function createPki(dir: string, nodeNames: string[] = []): Pki {
  fs.mkdirSync(dir, { recursive: true });
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const serviceAccountKey = path.join(dir, 'sa.key');
  const serviceAccountPub = path.join(dir, 'sa.pub');
  fs.writeFileSync(serviceAccountKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(serviceAccountPub, publicKey.export({ type: 'spki', format: 'pem' }));
  const adminToken = crypto.randomBytes(24).toString('hex');
  const controlPlaneToken = crypto.randomBytes(24).toString('hex');
  const operatorToken = crypto.randomBytes(24).toString('hex');
  const kubeProxyToken = crypto.randomBytes(24).toString('hex');
  const nodeTokens = Object.fromEntries(nodeNames.map((n) => [n, crypto.randomBytes(24).toString('hex')]));
  const tokenFile = path.join(dir, 'tokens.csv');
  // token,user,uid,"group1,group2"
  fs.writeFileSync(
    tokenFile,
    [
      `${adminToken},admin,admin,"system:masters"`,
      `${controlPlaneToken},system:control-plane,control-plane,"system:masters"`,
      `${operatorToken},durable-db-operator,durable-db-operator,"system:masters"`,
      `${kubeProxyToken},system:kube-proxy,kube-proxy`,
      ...nodeNames.map((n) => `${nodeTokens[n]},system:node:${n},node-${n},"system:nodes"`),
    ].join('\n') + '\n',
    { mode: 0o600 },
  );
  return {
    serviceAccountKey,
    serviceAccountPub,
    tokenFile,
    adminToken,
    controlPlaneToken,
    operatorToken,
    certDir: path.join(dir, 'serving'),
    nodeTokens,
    kubeProxyToken,
  };
}
