/**
 * The CRI image service of a real containerd, as the kubelet calls it: runtime.v1 ImageService over the
 * containerd socket with grpc-js, the two small messages encoded by hand (no CRI proto package needed).
 */
import * as grpc from "@grpc/grpc-js";

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/** Protobuf field `number` of wire type 2 (bytes / string / message). */
function lengthDelimited(field: number, value: Buffer): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(value.length), value]);
}

/** CRI runtime.v1 ImageService.PullImage, hand-encoded: PullImageRequest{image: ImageSpec{image: ref}}. */
export function criPullImage(socket: string, ref: string): Promise<string> {
  const client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  const body = lengthDelimited(1, lengthDelimited(1, Buffer.from(ref)));
  return new Promise<string>((resolve, reject) => {
    client.makeUnaryRequest(
      "/runtime.v1.ImageService/PullImage",
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 120_000 },
      (error, response) => {
        client.close();
        if (error) return reject(error);
        // PullImageResponse{image_ref = 1}: tag, length, string.
        const reply = response ?? Buffer.alloc(0);
        resolve(reply.subarray(2).toString());
      },
    );
  });
}
