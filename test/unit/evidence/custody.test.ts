import { describe, expect, it } from "vitest";

import {
  custodyArtifactSchema,
  isSafeRelativePath,
  type CustodyArtifact,
} from "../../../src/evidence/custody.ts";
import {
  evidenceFolderOf,
  misplacement,
  type EvidenceFolder,
} from "../../../src/evidence/export.ts";
import { validate } from "../../../src/model/validation.ts";

const FOLDER = "prod/shop/checkout-1/2026-11-22T10-00-00Z/";
const s3Folder = evidenceFolderOf(`s3://evidence/${FOLDER}custody.json`) as EvidenceFolder;
const fileFolder = evidenceFolderOf(`file:///var/evidence/${FOLDER}custody.json`) as EvidenceFolder;

const artifact = (overrides: Partial<CustodyArtifact>): CustodyArtifact => ({
  name: "crash.log",
  key: `${FOLDER}crash.log`,
  uri: `s3://evidence/${FOLDER}crash.log`,
  size: 1,
  sha256: "0".repeat(64),
  truncated: false,
  capturedAt: "2026-11-22T10:00:00Z",
  ...overrides,
});

describe("custody.json artifact names and keys", () => {
  it.each(["crash.log", "containers/app.log", "checkpoint-app.tar", `${FOLDER}crash.log`])(
    "accepts %s",
    (value) => expect(isSafeRelativePath(value)).toBe(true),
  );

  it.each([
    "",
    "../../../tmp/owned",
    "containers/../../x",
    "./crash.log",
    "/etc/passwd",
    "..\\..\\owned",
    "a//b",
    "crash.log/",
    "crash\u0000.log",
    "line\nbreak",
  ])("refuses %j", (value) => expect(isSafeRelativePath(value)).toBe(false));

  it("names the field of every unsafe value, and bounds their length", () => {
    const result = validate(
      custodyArtifactSchema,
      artifact({ name: "../x", key: "k".repeat(1025), uri: "http://elsewhere/x" }),
    );
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problems.map((p) => p.path)).toEqual(["name", "key", "uri"]);
  });
});

describe("the capture's own folder", () => {
  it("comes from the trusted custody URI alone", () => {
    expect(s3Folder).toEqual({
      kind: "s3",
      bucket: "evidence",
      folderKey: FOLDER,
      folderUri: `s3://evidence/${FOLDER}`,
    });
    expect(fileFolder).toMatchObject({
      kind: "file",
      folderPath: `/var/evidence/${FOLDER}`.slice(0, -1),
    });
    expect(evidenceFolderOf("s3://evidence/prod/not-custody.json")).toBeTypeOf("string");
    expect(evidenceFolderOf("https://evidence/x/custody.json")).toBeTypeOf("string");
  });

  it("admits an artifact at <folder><name> and nothing else", () => {
    expect(misplacement(artifact({}), s3Folder)).toBeNull();
    expect(misplacement(artifact({ uri: `s3://other/${FOLDER}crash.log` }), s3Folder)).toContain(
      "points outside the capture's folder",
    );
    expect(misplacement(artifact({ uri: "file:///etc/passwd" }), s3Folder)).toContain(
      "points outside",
    );
    expect(
      misplacement(
        artifact({ key: "prod/other/crash.log", uri: "s3://evidence/prod/other/crash.log" }),
        s3Folder,
      ),
    ).not.toBeNull();
    expect(misplacement(artifact({ name: "custody.json" }), s3Folder)).toContain(
      "replace custody.json",
    );
    expect(
      misplacement(artifact({ uri: `file:///var/evidence/${FOLDER}crash.log` }), fileFolder),
    ).toBeNull();
    expect(misplacement(artifact({ uri: "file:///etc/crash.log" }), fileFolder)).toContain(
      "points outside",
    );
  });
});
