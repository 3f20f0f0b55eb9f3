using System.Globalization;

namespace Meshgate.Proxy.Health;

/// <summary>Reads the integer settings the config compiler writes into cluster metadata.</summary>
internal static class HealthMetadata
{
    /// <summary>
    /// The positive integer at <paramref name="key"/>, or <paramref name="defaultValue"/> when it is absent or
    /// not a positive integer; the validator rejects such values, so this only guards hand-written YARP config.
    /// </summary>
    public static int ReadPositiveInt(IReadOnlyDictionary<string, string>? metadata, string key, int defaultValue)
    {
        if (metadata is not null && metadata.TryGetValue(key, out var text)
            && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0)
        {
            return value;
        }

        return defaultValue;
    }
}
