using System.Text;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Caching;

/// <summary>
/// The primary cache key: "METHOD scheme://host/path?query", the query kept, sorted or dropped as the policy says.
/// Request headers named by the policy select a variant under it, like Vary (see <see cref="CachedResponse.Selectors"/>).
/// </summary>
internal static class CacheKey
{
    public static string For(HttpRequest request, CachePolicy policy) =>
        For(request.Method, request.Scheme, request.Host.Value ?? "", request.PathBase + request.Path, request.QueryString.Value, policy);

    public static string For(string method, string scheme, string host, string path, string? query, CachePolicy policy)
    {
        var builder = new StringBuilder(method.Length + host.Length + path.Length + (query?.Length ?? 0) + 12);
        builder.Append(method).Append(' ').Append(scheme).Append("://").Append(host.ToLowerInvariant()).Append(path);
        if (policy.Query != CacheQueryMode.Drop && query is { Length: > 1 })
        {
            if (policy.Query == CacheQueryMode.Keep && policy.DropQuery.Count == 0)
            {
                builder.Append(query);
            }
            else
            {
                var parameters = query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
                    .Where(p => !policy.DropQuery.Contains(Uri.UnescapeDataString(p.Split('=', 2)[0])));
                if (policy.Query == CacheQueryMode.Sort) parameters = parameters.Order(StringComparer.Ordinal);
                var kept = string.Join('&', parameters);
                if (kept.Length > 0) builder.Append('?').Append(kept);
            }
        }
        return builder.ToString();
    }

    /// <summary>The URL part of a key (after the method).</summary>
    public static ReadOnlySpan<char> UrlOf(string key) => key.AsSpan(key.IndexOf(' ') + 1);
}
