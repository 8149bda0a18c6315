// The schema the Connect peers share, built at run time without generated
// code: the service loom.test.v1.Web from the descriptor set that build.mjs
// writes (gen/web.binpb, from tests/proto/loom/test/v1/web.proto, by
// `buf build`), and google.rpc.ErrorInfo, the error detail the server
// attaches, and google.rpc.Status, from FileDescriptorProtos written out
// here (the same names, packages, fields and numbers as googleapis'
// google/rpc/error_details.proto and status.proto, which Loom bundles;
// only these messages of them).
//
// Imported by server.mjs, client.mjs and web/page.mjs (bundled by esbuild,
// which inlines the descriptor set's bytes: see build.mjs).

import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  file_google_protobuf_any,
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
const { INT32, STRING, MESSAGE } = FieldDescriptorProto_Type;

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

const statusFile = create(FileDescriptorProtoSchema, {
  name: "google/rpc/status.proto",
  package: "google.rpc",
  dependency: ["google/protobuf/any.proto"],
  syntax: "proto3",
  messageType: [
    {
      name: "Status",
      field: [
        { name: "code", number: 1, label: OPTIONAL, type: INT32, jsonName: "code" },
        { name: "message", number: 2, label: OPTIONAL, type: STRING, jsonName: "message" },
        {
          name: "details",
          number: 3,
          label: REPEATED,
          type: MESSAGE,
          typeName: ".google.protobuf.Any",
          jsonName: "details",
        },
      ],
    },
  ],
});

/** google.rpc.Status (as gRPC's grpc-status-details-bin carries it). */
export const StatusSchema = createFileRegistry(statusFile, (name) =>
  name === "google/protobuf/any.proto" ? file_google_protobuf_any : undefined,
).getMessage("google.rpc.Status");
