import javax.persistence.Entity;
import javax.persistence.FetchType;
import javax.persistence.GeneratedValue;
import javax.persistence.GenerationType;
import javax.persistence.Id;
import javax.persistence.JoinColumn;
import javax.persistence.ManyToOne;
import javax.persistence.SequenceGenerator;
import javax.persistence.Table;

/**
 * A review written per book: the write loop. Its id comes from a sequence that hands out 50
 * ids per call (an IDENTITY id would make Hibernate give up JDBC batching of its inserts).
 */
@Entity
@Table(name = "reviews")
public class Review {
    @Id
    @GeneratedValue(strategy = GenerationType.SEQUENCE, generator = "review_ids")
    @SequenceGenerator(name = "review_ids", sequenceName = "review_seq", allocationSize = 50)
    private Long id;

    @ManyToOne(fetch = FetchType.LAZY, optional = false)
    @JoinColumn(name = "book_id")
    private Book book;

    private int stars;

    protected Review() {}

    public Review(Book book, int stars) {
        this.book = book;
        this.stars = stars;
    }
}
