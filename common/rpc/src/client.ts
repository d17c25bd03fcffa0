import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

/** A gRPC (HTTP/2) client for one of our services at base URL like http://127.0.0.1:4000. */
export function createRpcClient<S extends DescService>(service: S, baseUrl: string): Client<S> {
  return createClient(service, createGrpcTransport({ baseUrl }));
}
