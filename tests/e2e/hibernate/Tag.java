import javax.persistence.Entity;
import javax.persistence.Id;
import javax.persistence.Table;

/** A tag, shared by many books through book_tags. */
@Entity
@Table(name = "tags")
public class Tag {
    @Id
    private Long id;

    private String name;

    protected Tag() {}

    public Tag(long id, String name) {
        this.id = id;
        this.name = name;
    }

    public String getName() {
        return name;
    }
}
