using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy;

namespace Meshgate.Proxy.Mirroring;

/// <summary>
/// Second step of YARP's proxy pipeline (after the split): copies a sampled share of the route's requests to its
/// shadow cluster. The copy is the request the primary upstream receives: the route's own YARP transformer builds
/// it (path and header transforms, forwarded headers, hop-by-hop headers removed), toward one available endpoint
/// of the shadow cluster, plus <see cref="MirrorHeader"/>. It is queued and sent in the background; the primary
/// waits for nothing but reading a body of at most maxBody, which the copy needs.
/// </summary>
internal sealed class MirrorMiddleware(RequestDelegate next, IProxyStateLookup proxyState, IRandomSource random, MirrorQueue queue,
    MirrorStatistics statistics, MirrorComparer comparer)
{
    /// <summary>Request header that tells the shadow it receives a copy (e.g. so it sends no e-mails).</summary>
    public const string MirrorHeader = "x-meshgate-mirror";

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<MirrorPolicy>() is not { } policy) return next(context);
        if (policy.PartsPerMillion < 1_000_000 && (policy.PartsPerMillion == 0 || random.Next(1_000_000) >= policy.PartsPerMillion)) return next(context);
        return MirrorAsync(context, policy);
    }

    private async Task MirrorAsync(HttpContext context, MirrorPolicy policy)
    {
        var counts = statistics.For(policy.RouteId);
        var copy = await CaptureAsync(context, policy, counts);
        if (copy is null)
        {
            await next(context);
            return;
        }
        if (!policy.Compare)
        {
            queue.TryEnqueue(copy);
            await next(context);
            return;
        }

        var method = context.Request.Method;
        var path = context.Request.Path.Value ?? "/";
        var comparison = new MirrorComparison((primary, shadow) => comparer.Report(counts, policy, method, path, primary, shadow));
        copy.Comparison = comparison;
        if (!queue.TryEnqueue(copy))
        {
            await next(context);
            return;
        }

        var original = context.Response.Body;
        using var hashing = new HashingStream(original);
        context.Response.Body = hashing;
        MirrorAnswer? answer = null;
        try
        {
            await next(context);
            if (!context.RequestAborted.IsCancellationRequested) answer = PrimaryAnswer(context.Response, policy.CompareHeaders, hashing.Hash());
        }
        finally
        {
            context.Response.Body = original;
            comparison.SetPrimary(answer);
        }
    }

    private static MirrorAnswer PrimaryAnswer(HttpResponse response, IReadOnlyList<string> compareHeaders, byte[] bodyHash)
    {
        var headers = new string?[compareHeaders.Count];
        for (var i = 0; i < headers.Length; i++)
        {
            var values = response.Headers[compareHeaders[i]];
            if (values.Count > 0) headers[i] = string.Join(", ", (IEnumerable<string?>)values);
        }
        return new MirrorAnswer(response.StatusCode, headers, bodyHash);
    }

    /// <summary>Builds the copy, or counts why there is none (skipped: body too large, upgrade; failed: no shadow endpoint).</summary>
    private async Task<MirrorCopy?> CaptureAsync(HttpContext context, MirrorPolicy policy, MirrorRouteCounts counts)
    {
        if (context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true)
        {
            statistics.Count(counts, policy.ClusterId, MirrorOutcome.Skipped); // a WebSocket or tunnel cannot be copied
            return null;
        }
        byte[]? body = null;
        var bodyLength = 0;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != false)
        {
            (body, bodyLength) = await ReadBodyAsync(context.Request, policy.MaxBody, context.RequestAborted);
            if (body is null)
            {
                statistics.Count(counts, policy.ClusterId, MirrorOutcome.Skipped);
                return null;
            }
        }
        if (!proxyState.TryGetCluster(policy.ClusterId, out var shadow) || shadow.DestinationsState.AvailableDestinations is not { Count: > 0 } destinations)
        {
            statistics.Count(counts, policy.ClusterId, MirrorOutcome.Failed);
            return null;
        }
        var destination = destinations[destinations.Count == 1 ? 0 : random.Next(destinations.Count)];
        var config = shadow.Model.Config.HttpRequest;
        var message = new HttpRequestMessage
        {
            Method = HttpMethod.Parse(context.Request.Method),
            Version = config?.Version ?? System.Net.HttpVersion.Version20,
            VersionPolicy = config?.VersionPolicy ?? HttpVersionPolicy.RequestVersionOrLower,
        };
        // Content first: the transformer puts content headers (Content-Type) on it.
        if (body is not null) message.Content = new ByteArrayContent(body, 0, bodyLength);
        try
        {
            await context.GetReverseProxyFeature().Route.Transformer.TransformRequestAsync(context, message, destination.Model.Config.Address, context.RequestAborted);
        }
        catch (Exception) when (!context.RequestAborted.IsCancellationRequested)
        {
            message.Dispose();
            statistics.Count(counts, policy.ClusterId, MirrorOutcome.Failed);
            return null;
        }
        message.Headers.TryAddWithoutValidation(MirrorHeader, "true");
        return new MirrorCopy(message, shadow.Model.HttpClient, policy, counts);
    }

    /// <summary>
    /// Reads up to maxBody bytes of the request body ahead of the primary and puts them back in front of the rest,
    /// so the primary upstream receives exactly what the client sent. Returns no body when it is larger than maxBody
    /// or cannot be read (the primary then meets the same error and reports it its own way).
    /// </summary>
    private static async Task<(byte[]? Body, int Length)> ReadBodyAsync(HttpRequest request, long maxBody, CancellationToken cancellationToken)
    {
        var declared = request.ContentLength;
        if (declared > maxBody) return (null, 0);
        if (declared == 0) return ([], 0);

        var source = request.Body;
        var buffer = new byte[(int)Math.Max(1, Math.Min(declared ?? 4096, maxBody + 1))];
        var count = 0;
        try
        {
            while (count <= maxBody && count != declared)
            {
                if (count == buffer.Length) Array.Resize(ref buffer, (int)Math.Min(buffer.Length * 2L, maxBody + 1));
                var read = await source.ReadAsync(buffer.AsMemory(count), cancellationToken);
                if (read == 0) break;
                count += read;
            }
        }
        catch (Exception e) when (e is IOException or BadHttpRequestException)
        {
            request.Body = new ReplayStream(buffer, count, source);
            return (null, 0);
        }
        request.Body = new ReplayStream(buffer, count, source);
        return count > maxBody ? (null, 0) : (buffer, count);
    }
}
