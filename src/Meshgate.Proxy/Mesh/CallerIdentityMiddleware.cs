using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Mesh;

/// <summary>
/// Tells the app who called, in Envoy's <c>x-forwarded-client-cert</c> format (<c>By=&lt;own SPIFFE id&gt;;URI=&lt;caller's&gt;</c>).
/// Only in a process with a meshTls listener, and there on every request: a header the client sent is always removed
/// (a forged caller must never reach the app), and it is set only from a caller certificate verified in the handshake.
/// </summary>
public sealed class CallerIdentityMiddleware(RequestDelegate next, IWorkloadIdentity identity)
{
    public const string HeaderName = "x-forwarded-client-cert";

    /// <summary>Whether the process has the step: it has a meshTls listener (the listeners are bound once, at start).</summary>
    public static bool IsOn(Pipeline.SnapshotAccessor snapshots) => snapshots.Current.Listeners.Any(l => l.MeshTls is not null);

    public Task InvokeAsync(HttpContext context)
    {
        context.Request.Headers.Remove(HeaderName);
        if (context.Features.Get<MeshPeerFeature>()?.CallerSpiffeId is { } caller)
        {
            context.Request.Headers[HeaderName] = $"By={identity.SpiffeId};URI={caller}";
        }
        return next(context);
    }
}
