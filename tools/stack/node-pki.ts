import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The certificates between the API server and the real nodes' kubelets, from the stack's own CA
 * (openssl, which Debian ships everywhere): a serving certificate per kubelet for its node IP, so
 * the API server verifies the kubelet it calls for logs, exec and port-forward; and a client
 * certificate for the API server, which the kubelets authenticate by that CA. Nothing anonymous:
 * a kubelet authorizes every other caller by asking the API server (webhook).
 */
export interface NodePki {
  caCert: string;
  caKey: string;
  /** The API server's client certificate towards the kubelets (group system:masters). */
  apiserverKubeletClient: { cert: string; key: string };
  /**
   * The API server's serving certificate: for the address it listens on, loopback (tests put a
   * proxy there), and its in-cluster names and Service IP, as pods dial it.
   */
  apiserverServing: { cert: string; key: string };
}

export function createNodePki(dir: string, apiserverIps: string[]): NodePki {
  fs.mkdirSync(dir, { recursive: true });
  const caCert = path.join(dir, 'ca.crt');
  const caKey = path.join(dir, 'ca.key');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '30',
    '-subj',
    '/CN=durable-local-stack-ca',
    '-keyout',
    caKey,
    '-out',
    caCert,
  ]);
  const client = signed(dir, 'apiserver-kubelet-client', {
    subject: '/O=system:masters/CN=kube-apiserver-kubelet-client',
    extendedKeyUsage: 'clientAuth',
    ca: { cert: caCert, key: caKey },
  });
  const serving = signed(dir, 'apiserver', {
    subject: '/CN=kube-apiserver',
    extendedKeyUsage: 'serverAuth',
    subjectAltName: [
      ...[
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        'localhost',
      ].map((n) => `DNS:${n}`),
      ...[...new Set([...apiserverIps, '127.0.0.1'])].map((ip) => `IP:${ip}`),
    ].join(','),
    ca: { cert: caCert, key: caKey },
  });
  return { caCert, caKey, apiserverKubeletClient: client, apiserverServing: serving };
}

/** A kubelet's serving certificate for its node name and IP. */
export function kubeletServingCert(pki: NodePki, dir: string, nodeName: string, nodeIp: string) {
  return signed(dir, `kubelet-${nodeName}`, {
    subject: `/O=system:nodes/CN=system:node:${nodeName}`,
    extendedKeyUsage: 'serverAuth',
    subjectAltName: `DNS:${nodeName},IP:${nodeIp}`,
    ca: { cert: pki.caCert, key: pki.caKey },
  });
}

function signed(
  dir: string,
  name: string,
  opts: {
    subject: string;
    extendedKeyUsage: 'clientAuth' | 'serverAuth';
    subjectAltName?: string;
    ca: { cert: string; key: string };
  },
): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', opts.subject, '-keyout', key, '-out', csr]);
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${opts.extendedKeyUsage}`,
      ...(opts.subjectAltName ? [`subjectAltName=${opts.subjectAltName}`] : []),
      '',
    ].join('\n'),
  );
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    opts.ca.cert,
    '-CAkey',
    opts.ca.key,
    '-CAcreateserial',
    '-days',
    '30',
    '-extfile',
    ext,
    '-out',
    cert,
  ]);
  fs.chmodSync(key, 0o600);
  return { cert, key };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
