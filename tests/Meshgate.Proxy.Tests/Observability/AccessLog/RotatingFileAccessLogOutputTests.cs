using System.Text;
using Meshgate.Proxy.Observability.AccessLog;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

public sealed class RotatingFileAccessLogOutputTests
{
    private static byte[] Line(int n) => Encoding.UTF8.GetBytes($"line {n:000}\n"); // 9 bytes

    [Fact]
    public void Append_PastMaxFiles_DeletesTheOldest()
    {
        var path = Path.Combine(TestKit.TempDirectory.Create(), "access.log");
        using (var output = new RotatingFileAccessLogOutput(path, maxFileSize: 20, maxFiles: 2))
        {
            for (var i = 0; i < 10; i++) output.Append(Line(i));
        }

        // Two lines per file: the current file holds 8-9, .1 6-7, .2 4-5; 0-3 are gone.
        Assert.Equal("line 008\nline 009\n", File.ReadAllText(path));
        Assert.Equal("line 006\nline 007\n", File.ReadAllText(path + ".1"));
        Assert.Equal("line 004\nline 005\n", File.ReadAllText(path + ".2"));
        Assert.False(File.Exists(path + ".3"));
    }

    [Fact]
    public void Append_LineLongerThanTheLimit_GetsAFileOfItsOwn()
    {
        var path = Path.Combine(TestKit.TempDirectory.Create(), "access.log");
        var longLine = Encoding.UTF8.GetBytes(new string('x', 50) + "\n");
        using (var output = new RotatingFileAccessLogOutput(path, maxFileSize: 20, maxFiles: 5))
        {
            output.Append(Line(1));
            output.Append(longLine);
            output.Append(Line(2));
        }

        Assert.Equal("line 001\n", File.ReadAllText(path + ".2"));
        Assert.Equal(longLine, File.ReadAllBytes(path + ".1"));
        Assert.Equal("line 002\n", File.ReadAllText(path));
    }

    [Fact]
    public void Open_ExistingFile_AppendsAndCountsItsSize()
    {
        var path = Path.Combine(TestKit.TempDirectory.Create(), "access.log");
        File.WriteAllText(path, "old 0001\n");
        using (var output = new RotatingFileAccessLogOutput(path, maxFileSize: 20, maxFiles: 5))
        {
            output.Append(Line(1));
            output.Append(Line(2));
        }

        Assert.Equal("old 0001\nline 001\n", File.ReadAllText(path + ".1"));
        Assert.Equal("line 002\n", File.ReadAllText(path));
    }
}
