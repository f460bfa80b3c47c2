using System.Runtime.CompilerServices;

// Tests share libtorch's native state (threads, allocator, default dtype): run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Apt.Tests;

static class TestHost
{
    /// <summary>
    /// libtorch loads with the kit's settings (threads, MKL's kernels) before any test touches a tensor, whichever
    /// test runs first, so that every test computes as <c>apt</c> does.
    /// </summary>
    [ModuleInitializer]
    internal static void LoadLibTorchAsTheKitDoes() => Apt.Backbone.TorchRuntime.EnsureLoaded();
}
