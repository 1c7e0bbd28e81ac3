#include "cli/tabwriter.h"

#include <algorithm>
#include <vector>

#include "cli/text.h"

namespace herd::cli {

namespace {

constexpr char kEscape = '\xff';

struct Cell {
    int size = 0;   // bytes of text in buf_
    int width = 0;  // runes
    bool htab = false;
};

class TabWriter {
  public:
    explicit TabWriter(const TabwriterOptions& o) : o_(o) { reset(); }

    void write(std::string_view in) {
        size_t n = 0;
        for (size_t i = 0; i < in.size(); ++i) {
            const char ch = in[i];
            if (end_char_ == 0) {
                if (ch == '\t' || ch == '\v' || ch == '\n' || ch == '\f') {
                    append(in.substr(n, i - n));
                    updateWidth();
                    n = i + 1;
                    const size_t ncells = terminateCell(ch == '\t');
                    if (ch == '\n' || ch == '\f') {
                        // Lines of a table have as many cells as the last
                        // one: room for them at once (10,000 rows x 45).
                        const size_t width = lines_.back().size();
                        lines_.emplace_back();
                        lines_.back().reserve(width);
                        // A line with a single cell cannot influence the
                        // alignment of what follows: Go flushes there.
                        if (ch == '\f' || ncells == 1) flush();
                    }
                } else if (ch == kEscape) {
                    append(in.substr(n, i - n));
                    updateWidth();
                    n = i;  // the escape byte itself is kept
                    end_char_ = kEscape;
                }
            } else if (ch == end_char_) {
                append(in.substr(n, i + 1 - n));
                n = i + 1;
                endEscape();
            }
        }
        append(in.substr(n));
    }

    void flush() {
        if (cell_.size > 0) {
            if (end_char_ != 0) endEscape();
            terminateCell(false);
        }
        format(0, 0, static_cast<int>(lines_.size()));
        reset();
    }

    std::string take() { return std::move(out_); }

    // Room for an input of `n` bytes (padding makes the output longer).
    void reserve(size_t n) {
        buf_.reserve(n);
        out_.reserve(n + n / 2);
    }

  private:
    void reset() {
        buf_.clear();
        pos_ = 0;
        cell_ = Cell{};
        end_char_ = 0;
        lines_.clear();
        widths_.clear();
        lines_.emplace_back();
    }

    void append(std::string_view s) {
        buf_ += s;
        cell_.size += static_cast<int>(s.size());
    }

    void updateWidth() {
        cell_.width += static_cast<int>(text::runeCount(std::string_view(buf_).substr(pos_)));
        pos_ = buf_.size();
    }

    void endEscape() {
        updateWidth();
        cell_.width -= 2;  // the two escape bytes have no width
        pos_ = buf_.size();
        end_char_ = 0;
    }

    size_t terminateCell(bool htab) {
        cell_.htab = htab;
        lines_.back().push_back(cell_);
        cell_ = Cell{};
        return lines_.back().size();
    }

    void writePadding(int textw, int cellw) {
        if (o_.padchar == '\t') {
            if (o_.tabwidth == 0) return;  // tabs have no width: no padding possible
            cellw = (cellw + o_.tabwidth - 1) / o_.tabwidth * o_.tabwidth;
            const int n = cellw - textw;
            out_.append(static_cast<size_t>((n + o_.tabwidth - 1) / o_.tabwidth), '\t');
            return;
        }
        if (cellw > textw) out_.append(static_cast<size_t>(cellw - textw), o_.padchar);
    }

    int writeLines(int pos, int line0, int line1) {
        for (int i = line0; i < line1; ++i) {
            const auto& line = lines_[static_cast<size_t>(i)];
            for (size_t j = 0; j < line.size(); ++j) {
                const Cell& c = line[j];
                if (c.size > 0) {
                    out_.append(buf_, static_cast<size_t>(pos), static_cast<size_t>(c.size));
                    pos += c.size;
                }
                if (j < widths_.size()) writePadding(c.width, widths_[j]);
            }
            if (i + 1 == static_cast<int>(lines_.size())) {
                // The last buffered line has no newline: write what is left
                // of the unterminated cell.
                out_.append(buf_, static_cast<size_t>(pos), static_cast<size_t>(cell_.size));
                pos += cell_.size;
            } else {
                out_ += '\n';
            }
        }
        return pos;
    }

    // Go's recursive column-block formatting: a block is a run of
    // consecutive lines that all have a cell in the current column.
    int format(int pos, int line0, int line1) {
        const int column = static_cast<int>(widths_.size());
        for (int cur = line0; cur < line1; ++cur) {
            if (column >= cells(cur) - 1) continue;
            pos = writeLines(pos, line0, cur);
            line0 = cur;
            int width = o_.minwidth;
            for (; cur < line1; ++cur) {
                if (column >= cells(cur) - 1) break;
                const Cell& c = lines_[static_cast<size_t>(cur)][static_cast<size_t>(column)];
                width = std::max(width, c.width + o_.padding);
            }
            widths_.push_back(width);
            pos = format(pos, line0, cur);
            widths_.pop_back();
            line0 = cur;
        }
        return writeLines(pos, line0, line1);
    }

    int cells(int line) const { return static_cast<int>(lines_[static_cast<size_t>(line)].size()); }

    TabwriterOptions o_;
    std::string buf_;
    size_t pos_ = 0;
    Cell cell_;
    char end_char_ = 0;
    std::vector<std::vector<Cell>> lines_;
    std::vector<int> widths_;
    std::string out_;
};

}  // namespace

std::string tabwrite(std::string_view input, const TabwriterOptions& opts) {
    TabWriter w(opts);
    w.reserve(input.size());
    w.write(input);
    w.flush();
    return w.take();
}

}  // namespace herd::cli
