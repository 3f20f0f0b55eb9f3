using System.Globalization;

namespace Meshgate.Configuration.Model;

/// <summary>A size in bytes, written as 1024, 64KiB, 1MiB, 10MB, 1GiB.</summary>
public readonly record struct ByteSize(long Bytes)
{
    private static readonly (string Suffix, long Factor)[] Units =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30),
        ("KB", 1000), ("MB", 1000_000), ("GB", 1000_000_000), ("B", 1),
    ];

    public static bool TryParse(string text, out ByteSize size)
    {
        size = default;
        text = text.Trim();
        long factor = 1;
        foreach (var (suffix, f) in Units)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                factor = f;
                text = text[..^suffix.Length].TrimEnd();
                break;
            }
        }
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > long.MaxValue / factor)
        {
            return false;
        }
        size = new ByteSize(n * factor);
        return true;
    }

    public override string ToString()
    {
        foreach (var (suffix, f) in Units)
        {
            if (Bytes >= f && Bytes % f == 0 && f > 1)
            {
                return (Bytes / f).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }
        return Bytes.ToString(CultureInfo.InvariantCulture);
    }
}
