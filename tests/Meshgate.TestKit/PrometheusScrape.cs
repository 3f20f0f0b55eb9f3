using System.Globalization;
using System.Text;

namespace Meshgate.TestKit;

/// <summary>
/// One scrape of a Prometheus text-format endpoint, parsed into samples: what a Prometheus server
/// would store, so tests assert on the names and labels an operator queries.
/// </summary>
public sealed class PrometheusScrape
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    private PrometheusScrape(string text, List<Sample> samples)
    {
        Text = text;
        Samples = samples;
    }

    /// <summary>The body as served.</summary>
    public string Text { get; }

    public IReadOnlyList<Sample> Samples { get; }

    public static async Task<PrometheusScrape> GetAsync(HttpClient admin, string path = "/metrics")
    {
        using var response = await admin.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}: {text}");
        return Parse(text);
    }

    public static PrometheusScrape Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line[0] == '#') continue;
            samples.Add(ParseLine(line));
        }
        return new PrometheusScrape(text, samples);
    }

    /// <summary>Samples of the metric whose labels include every given pair (a label given as null must be absent).</summary>
    public IEnumerable<Sample> Find(string name, params (string Label, string? Value)[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => l.Value is null
            ? !s.Labels.ContainsKey(l.Label)
            : s.Labels.TryGetValue(l.Label, out var v) && v == l.Value));

    /// <summary>The sum over the matching samples (0 when none matches): a counter or count summed over the labels not given.</summary>
    public double Sum(string name, params (string Label, string? Value)[] labels) => Find(name, labels).Sum(s => s.Value);

    /// <summary>The one matching sample's value; fails when there is none or more than one.</summary>
    public double Single(string name, params (string Label, string? Value)[] labels)
    {
        var found = Find(name, labels).ToList();
        if (found.Count != 1)
        {
            throw new InvalidOperationException($"expected one sample of {name}{{{string.Join(",", labels.Select(l => $"{l.Label}={l.Value}"))}}}, found {found.Count}:\n"
                + string.Join("\n", Samples.Where(s => s.Name == name).Select(s => $"  {s.Name}{{{string.Join(",", s.Labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} {s.Value}")));
        }
        return found[0].Value;
    }

    private static Sample ParseLine(string line)
    {
        var labels = new Dictionary<string, string>();
        var brace = line.IndexOf('{');
        var space = line.IndexOf(' ');
        string name;
        int rest;
        if (brace >= 0 && (space < 0 || brace < space))
        {
            name = line[..brace];
            var i = brace + 1;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                var label = line[i..eq].Trim();
                i = eq + 1;
                if (line[i] != '"') throw new FormatException($"label value not quoted: {line}");
                i++;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        i++;
                        value.Append(line[i] switch { 'n' => '\n', var c => c });
                    }
                    else
                    {
                        value.Append(line[i]);
                    }
                    i++;
                }
                labels[label] = value.ToString();
                i++;
                if (line[i] == ',') i++;
            }
            rest = i + 1;
        }
        else
        {
            name = line[..space];
            rest = space;
        }
        // The value, then an optional timestamp.
        var fields = line[rest..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var number = fields[0] switch
        {
            "+Inf" => double.PositiveInfinity,
            "-Inf" => double.NegativeInfinity,
            "NaN" => double.NaN,
            var v => double.Parse(v, CultureInfo.InvariantCulture),
        };
        return new Sample(name, labels, number);
    }
}
