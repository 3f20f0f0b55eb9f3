using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.Extensions.ObjectPool;

namespace Meshgate.Proxy.Resilience.Timeouts;

/// <summary>
/// A cancellation that fires when its parent token does or when a time has passed: the route's
/// whole-request deadline and each attempt's per-try deadline. Sources are pooled and reset between
/// uses (as Kestrel does with the token behind <c>RequestAborted</c>), so a request on a route with
/// timeouts allocates no linked token source, registration or timer once the pool is warm; ASP.NET
/// Core's request-timeouts middleware allocates all three per request, which the benchmark showed.
/// It is also the framework's <see cref="IHttpRequestTimeoutFeature"/>, so anything that looks for the
/// request's timeout (YARP disables it for upgraded connections) finds this one.
/// </summary>
internal sealed class Deadline : IHttpRequestTimeoutFeature
{
    private static readonly ObjectPool<Deadline> Pool = new DefaultObjectPool<Deadline>(new Policy(), 1024);

    private CancellationTokenSource _source = new();
    private CancellationTokenRegistration _parentRegistration;
    private CancellationToken _parent;

    private Deadline()
    {
    }

    /// <summary>The token to hand to the work under the deadline.</summary>
    public CancellationToken Token { get; private set; }

    /// <summary>Whether the time ran out (as opposed to the parent being cancelled).</summary>
    public bool Expired => Token.IsCancellationRequested && !_parent.IsCancellationRequested;

    CancellationToken IHttpRequestTimeoutFeature.RequestTimeoutToken => Token;

    /// <summary>Starts a deadline that fires <paramref name="after"/> from now, or when <paramref name="parent"/> is cancelled.</summary>
    public static Deadline Start(CancellationToken parent, TimeSpan after)
    {
        var deadline = Pool.Get();
        deadline._parent = parent;
        deadline.Token = deadline._source.Token;
        deadline._parentRegistration = parent.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), deadline._source);
        deadline._source.CancelAfter(after);
        return deadline;
    }

    /// <summary>Stops the clock and keeps the token as it is (e.g. once an attempt's response headers arrived).</summary>
    public void DisableTimeout() => _source.CancelAfter(Timeout.InfiniteTimeSpan);

    /// <summary>Ends the deadline; the instance must not be used after this.</summary>
    public void Return()
    {
        _parentRegistration.Dispose();
        _parentRegistration = default;
        _parent = default;
        Token = default;
        // A source that fired cannot be reset; it is replaced, and the pool keeps the instance.
        if (!_source.TryReset())
        {
            _source.Dispose();
            _source = new CancellationTokenSource();
        }
        Pool.Return(this);
    }

    private sealed class Policy : PooledObjectPolicy<Deadline>
    {
        public override Deadline Create() => new();

        public override bool Return(Deadline obj) => true;
    }
}
