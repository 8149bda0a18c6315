// The schema the Connect peers share, built at run time without generated
// code: the service loom.test.v1.Web from the descriptor set that build.mjs
// writes (gen/web.binpb, from tests/proto/loom/test/v1/web.proto, by
// `buf build`), and google.rpc.ErrorInfo, the error detail the server
// attaches, from a FileDescriptorProto written out here (the same name,
// package, fields and numbers as googleapis' google/rpc/error_details.proto,
// which Loom bundles; only this one message of it).
//
// Imported by server.mjs, client.mjs and web/page.mjs (bundled by esbuild,
// which inlines the descriptor set's bytes: see build.mjs).

import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
} from "@bufbuild/protobuf/wkt";

export const SERVICE = "loom.test.v1.Web";

/** The Web service's descriptor, from the bytes of gen/web.binpb. */
export function webService(descriptorSetBytes) {
  const set = fromBinary(FileDescriptorSetSchema, descriptorSetBytes);
  const service = createFileRegistry(set).getService(SERVICE);
  if (service === undefined) {
    throw new Error(`${SERVICE} is not in the descriptor set`);
  }
  return service;
}

const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
const { STRING, MESSAGE } = FieldDescriptorProto_Type;

const errorDetailsFile = create(FileDescriptorProtoSchema, {
  name: "google/rpc/error_details.proto",
  package: "google.rpc",
  syntax: "proto3",
  messageType: [
    {
      name: "ErrorInfo",
      field: [
        { name: "reason", number: 1, label: OPTIONAL, type: STRING, jsonName: "reason" },
        { name: "domain", number: 2, label: OPTIONAL, type: STRING, jsonName: "domain" },
        {
          name: "metadata",
          number: 3,
          label: REPEATED,
          type: MESSAGE,
          typeName: ".google.rpc.ErrorInfo.MetadataEntry",
          jsonName: "metadata",
        },
      ],
      nestedType: [
        {
          name: "MetadataEntry",
          field: [
            { name: "key", number: 1, label: OPTIONAL, type: STRING, jsonName: "key" },
            { name: "value", number: 2, label: OPTIONAL, type: STRING, jsonName: "value" },
          ],
          options: { mapEntry: true },
        },
      ],
    },
  ],
});

/** google.rpc.ErrorInfo. */
export const ErrorInfoSchema = createFileRegistry(errorDetailsFile, () => undefined).getMessage(
  "google.rpc.ErrorInfo",
);

/** The gRPC name of a status code (3: INVALID_ARGUMENT). */
export const CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** What the server's ErrorInfo says, for a request failing with `code`. */
export function errorInfoFor(code) {
  return {
    reason: "LOOM_TEST_FAILURE",
    domain: "loom.test",
    metadata: { code: String(code), peer: "connect-node" },
  };
}
