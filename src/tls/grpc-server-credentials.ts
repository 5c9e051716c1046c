/**
 * gRPC server credentials that follow a {@link ReloadingServerTls}: grpc-js
 * swaps the secure context of its listening sockets whenever the
 * certificate provider reports a new certificate, so new connections get it
 * and open ones keep theirs.
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import type { ReloadingServerTls } from './reloading-server-tls.ts';

type Unsubscribe = () => void;

/** TLS credentials (mutual when the material has a client CA) for `bindAsync`. */
export function grpcServerCredentials(tls: ReloadingServerTls): ServerCredentials {
  const subscriptions = new Map<unknown, Unsubscribe>();
  const provider: experimental.CertificateProvider = {
    addIdentityCertificateListener(listener) {
      const tell = () => listener({ certificate: tls.current.cert, privateKey: tls.current.key });
      subscriptions.set(listener, tls.onChange(tell));
      // grpc-js subscribes before it registers the socket that should hear
      // the answer: the first answer must come later, as its own provider's does.
      process.nextTick(tell);
    },
    removeIdentityCertificateListener(listener) {
      subscriptions.get(listener)?.();
      subscriptions.delete(listener);
    },
    addCaCertificateListener(listener) {
      const tell = () => {
        if (tls.current.clientCa !== undefined) listener({ caCertificate: tls.current.clientCa });
      };
      subscriptions.set(listener, tls.onChange(tell));
      process.nextTick(tell);
    },
    removeCaCertificateListener(listener) {
      subscriptions.get(listener)?.();
      subscriptions.delete(listener);
    },
  };
  // grpc-js 1.14 names the parameters (ca, identity) but uses them as
  // (identity, ca), which is the order given here.
  return experimental.createCertificateProviderServerCredentials(
    provider,
    tls.mutual ? provider : null,
    tls.mutual,
  );
}
