using UserNet.Stack;

namespace UserNet.Sockets;

/// <summary>How sockets get work done on the loop and their results back to the application.</summary>
internal static class StackHostExtensions
{
    /// <summary>
    /// Runs <paramref name="action"/> on the loop; its result (or exception) reaches the awaiting caller through the
    /// host's application scheduler.
    /// </summary>
    public static Task<T> InvokeAsync<T>(this IStackHost host, Func<NetStack, T> action)
    {
        var tcs = new TaskCompletionSource<T>(); // completed from the scheduler, so continuations run where it says
        var scheduler = host.ApplicationScheduler;
        host.Post(stack =>
        {
            T result;
            try { result = action(stack); }
            catch (Exception e)
            {
                scheduler.Schedule(static s => { var (t, ex) = ((TaskCompletionSource<T>, Exception))s!; t.TrySetException(ex); }, (tcs, e));
                return;
            }
            scheduler.Schedule(static s => { var (t, r) = ((TaskCompletionSource<T>, T))s!; t.TrySetResult(r); }, (tcs, result));
        });
        return tcs.Task;
    }
}
