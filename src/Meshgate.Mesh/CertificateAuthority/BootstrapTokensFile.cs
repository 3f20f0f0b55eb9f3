namespace Meshgate.Mesh.CertificateAuthority;

/// <summary>
/// Reads the bootstrap tokens file: one token a line, <c>&lt;namespace&gt; &lt;service&gt; &lt;sha256-hex&gt; [dns-name ...]</c>;
/// blank lines and lines starting with <c>#</c> are skipped.
/// </summary>
public static class BootstrapTokensFile
{
    /// <summary>The tokens in <paramref name="path"/>; throws <see cref="FormatException"/> naming the line of the first bad one.</summary>
    public static IReadOnlyList<BootstrapToken> Load(string path) => Parse(File.ReadAllLines(path), path);

    internal static IReadOnlyList<BootstrapToken> Parse(IReadOnlyList<string> lines, string source)
    {
        var tokens = new List<BootstrapToken>();
        for (var i = 0; i < lines.Count; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3)
                throw new FormatException($"{source}:{i + 1}: expected '<namespace> <service> <sha256-hex> [dns-name ...]'");
            var token = new BootstrapToken(fields[0], fields[1], fields[2].ToLowerInvariant()) { DnsNames = fields[3..] };
            if (token.Validate().FirstOrDefault() is { } problem) throw new FormatException($"{source}:{i + 1}: {problem}");
            tokens.Add(token);
        }
        return tokens;
    }
}
