using System.Text;
using Meshgate.Proxy.Caching.Rfc9111;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Caching.Stores.Redis;

/// <summary>
/// An entry as bytes in Redis: a version byte, then status, the three times RFC 9111 needs (response time,
/// corrected initial age, freshness lifetime, as ticks), validators, selectors, surrogate keys, headers and body.
/// Strings are length-prefixed UTF-8. The Cache-Control directives are parsed again from the stored header on read.
/// </summary>
internal static class RedisCacheEntryFormat
{
    private const byte Version = 1;

    public static byte[] Write(CachedResponse entry)
    {
        using var buffer = new MemoryStream(entry.Body.Length + 256);
        using (var writer = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write7BitEncodedInt(entry.StatusCode);
            writer.Write(entry.ResponseTime.UtcTicks);
            writer.Write(entry.InitialAge.Ticks);
            writer.Write(entry.Lifetime.Ticks);
            WriteOptional(writer, entry.ETag);
            WriteOptional(writer, entry.LastModified);
            writer.Write7BitEncodedInt(entry.Selectors.Length);
            foreach (var (name, value) in entry.Selectors)
            {
                writer.Write(name);
                writer.Write(value);
            }
            writer.Write7BitEncodedInt(entry.SurrogateKeys.Length);
            foreach (var key in entry.SurrogateKeys) writer.Write(key);
            writer.Write7BitEncodedInt(entry.Headers.Length);
            foreach (var (name, values) in entry.Headers)
            {
                writer.Write(name);
                writer.Write7BitEncodedInt(values.Count);
                foreach (var value in values) writer.Write(value ?? "");
            }
            writer.Write7BitEncodedInt(entry.Body.Length);
            writer.Write(entry.Body);
        }
        return buffer.ToArray();
    }

    /// <summary>The entry, or null when the bytes are not an entry this version wrote (a newer node's, or damaged).</summary>
    public static CachedResponse? Read(byte[] bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
            if (reader.ReadByte() != Version) return null;
            var status = reader.Read7BitEncodedInt();
            var responseTime = new DateTimeOffset(reader.ReadInt64(), TimeSpan.Zero);
            var initialAge = TimeSpan.FromTicks(reader.ReadInt64());
            var lifetime = TimeSpan.FromTicks(reader.ReadInt64());
            var etag = ReadOptional(reader);
            var lastModified = ReadOptional(reader);
            var selectors = new (string, string)[reader.Read7BitEncodedInt()];
            for (var i = 0; i < selectors.Length; i++) selectors[i] = (reader.ReadString(), reader.ReadString());
            var surrogateKeys = new string[reader.Read7BitEncodedInt()];
            for (var i = 0; i < surrogateKeys.Length; i++) surrogateKeys[i] = reader.ReadString();
            var headers = new KeyValuePair<string, StringValues>[reader.Read7BitEncodedInt()];
            for (var i = 0; i < headers.Length; i++)
            {
                var name = reader.ReadString();
                var values = new string[reader.Read7BitEncodedInt()];
                for (var j = 0; j < values.Length; j++) values[j] = reader.ReadString();
                headers[i] = new(name, new StringValues(values));
            }
            var body = reader.ReadBytes(reader.Read7BitEncodedInt());
            var cacheControl = headers.Where(h => string.Equals(h.Key, "Cache-Control", StringComparison.OrdinalIgnoreCase)).SelectMany(h => h.Value).ToArray();
            return new CachedResponse
            {
                StatusCode = status,
                Headers = headers,
                Body = body,
                ResponseTime = responseTime,
                InitialAge = initialAge,
                Lifetime = lifetime,
                Directives = CacheDirectives.Parse(new StringValues(cacheControl)),
                Selectors = selectors,
                SurrogateKeys = surrogateKeys,
                ETag = etag,
                LastModified = lastModified,
            };
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or ArgumentOutOfRangeException or DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The hash field a variant is stored under: its selectors, which no header value can forge (no line feeds or NULs in header values).</summary>
    public static string Field(CachedResponse entry)
    {
        if (entry.Selectors.Length == 0) return "";
        var builder = new StringBuilder();
        foreach (var (name, value) in entry.Selectors) builder.Append(name).Append('\0').Append(value).Append('\n');
        return builder.ToString();
    }

    private static void WriteOptional(BinaryWriter writer, string? value)
    {
        writer.Write(value is not null);
        if (value is not null) writer.Write(value);
    }

    private static string? ReadOptional(BinaryReader reader) => reader.ReadBoolean() ? reader.ReadString() : null;
}
