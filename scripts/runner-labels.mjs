// GitHub-hosted runner labels GitHub offers today (images retired since, such
// as macos-13, ubuntu-20.04 and windows-2019, are left out). The release
// workflow may use only these (__test__/release.test.mjs), and
// scripts/lint-workflows.mjs accepts them where actionlint's built-in runner
// list is older. Update when GitHub adds or retires an image.
export const HOSTED_RUNNER_LABELS = Object.freeze([
  'ubuntu-24.04',
  'ubuntu-22.04',
  'ubuntu-24.04-arm',
  'ubuntu-22.04-arm',
  'windows-2022',
  'windows-2025',
  'windows-11-arm',
  'macos-14',
  'macos-15',
  'macos-15-intel',
  'macos-26',
])
