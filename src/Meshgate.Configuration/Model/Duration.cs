using System.Globalization;

namespace Meshgate.Configuration.Model;

/// <summary>Durations as written in config: 250ms, 5s, 1.5s, 2m, 1h. A unit is required.</summary>
public static class Duration
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        (string Suffix, double Ms)[] units = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, ms) in units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)
                && double.IsFinite(n) && Math.Abs(n * ms) < TimeSpan.MaxValue.TotalMilliseconds)
            {
                value = TimeSpan.FromMilliseconds(n * ms);
                return true;
            }
        }
        return false;
    }

    public static string Format(TimeSpan value)
    {
        var ms = value.TotalMilliseconds;
        if (ms % 3_600_000 == 0 && ms != 0) return (ms / 3_600_000).ToString(CultureInfo.InvariantCulture) + "h";
        if (ms % 60_000 == 0 && ms != 0) return (ms / 60_000).ToString(CultureInfo.InvariantCulture) + "m";
        if (ms % 1000 == 0) return (ms / 1000).ToString(CultureInfo.InvariantCulture) + "s";
        return ms.ToString(CultureInfo.InvariantCulture) + "ms";
    }
}
