// Tests share libtorch's native state (threads, allocator, default dtype): run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
