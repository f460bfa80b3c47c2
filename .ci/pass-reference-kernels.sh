#!/usr/bin/env bash
# A second pass of the model test classes with the compute path forced to the libtorch reference (APT_KERNELS=reference):
# every forward, gradient and prefix test then runs the path a GPU takes. The kernel tests (Backbone/Cpu's own)
# and the tests that pick a path themselves (ComputePathTests, OnnxParityTests) are not repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/Apt.Tests -c Debug -v q -nologo
APT_KERNELS=reference dotnet test tests/Apt.Tests --no-build \
  --filter "FullyQualifiedName~Apt.Tests.Backbone.MiniLMTests|FullyQualifiedName~Apt.Tests.Backbone.Roberta|FullyQualifiedName~Apt.Tests.Backbone.HuggingFaceFolderTests|FullyQualifiedName~Apt.Tests.Prefix.|FullyQualifiedName~Apt.Tests.Tasks.HeadTests"
