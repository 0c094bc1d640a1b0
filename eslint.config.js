import js from "@eslint/js";
import tseslint from "typescript-eslint";

// The product (src, watcher, workflows, cli) never reaches into the tests or the simulated
// cluster; only `podmortem dev --demo` (cli/dev) starts the simulation, and sim/ never imports test/.
const noTest = {
  group: ["**/test/**"],
  message: "no product or simulation code imports test/",
};
const noSim = {
  group: ["**/sim/**"],
  message: "only cli/dev (the demo) imports the simulated cluster in sim/",
};

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", ".data/", "coverage/", "bin/", "*.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "error",
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/watcher/**", "**/workflows/**", "**/cli/**"],
              message: "src imports neither watcher, workflows nor cli",
            },
            noTest,
            noSim,
          ],
        },
      ],
    },
  },
  {
    files: ["watcher/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/workflows/**"],
              message:
                "the watcher reaches workflows only through Restate (import type is allowed)",
              allowTypeImports: true,
            },
            {
              group: ["@restatedev/restate-sdk", "@restatedev/restate-sdk/*"],
              message: "the watcher talks to Restate through @restatedev/restate-sdk-clients",
            },
            noTest,
            noSim,
          ],
        },
      ],
    },
  },
  {
    files: ["workflows/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["**/watcher/**"], message: "workflows never import the watcher" },
            noTest,
            noSim,
          ],
        },
      ],
    },
  },
  {
    files: ["cli/**/*.ts"],
    ignores: ["cli/dev/**"],
    rules: { "no-restricted-imports": ["error", { patterns: [noTest, noSim] }] },
  },
  {
    files: ["cli/dev/**/*.ts", "sim/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [noTest] }] },
  },
  {
    // An import by computed string is invisible to tsc and to the rules above.
    files: ["src/**/*.ts", "watcher/**/*.ts", "workflows/**/*.ts", "cli/**/*.ts", "sim/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "ImportExpression[source.type!='Literal']",
          message: "import modules by a literal path, never a computed string",
        },
      ],
    },
  },
  {
    files: ["test/**/*.ts", "cli/**/*.ts", "sim/**/*.ts"],
    rules: {
      "no-console": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/unbound-method": "off",
      "@typescript-eslint/require-await": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
    },
  },
);
